"""The warehouse: versioned migrations, the shared load transformation, and the staging + MERGE loader.

Locally the warehouse is PostgreSQL and ``smartcity load`` runs the whole load; on AWS it is Redshift
Serverless and ``glue_etl/job.py`` runs the same transformation with Glue's Redshift writer.
"""
