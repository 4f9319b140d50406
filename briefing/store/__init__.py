"""The story store: SQLAlchemy 2 models, migrations and the queries the service needs."""
