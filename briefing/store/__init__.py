"""The story store: SQLAlchemy 2 ORM rows (`models`, every class named `...Row`),
alembic migrations, the connection (`db`), and the queries, one module per aggregate.

All SQL of the project lives here. May import `text`, `clock`, `config`, `errors`.
"""
