"""Data quality rules of the lake tables: one declaration, rendered as Glue DQDL and run locally."""
