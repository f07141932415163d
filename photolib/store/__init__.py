"""Storage: the only package that runs SQL. The catalog and its tables, migrations, the FAISS indexes and their keeper.

Imports only `photolib.core`."""
