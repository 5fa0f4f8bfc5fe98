"""The local stack: Kafka (KRaft), embedded PostgreSQL and moto's server, plus the jar cache."""
