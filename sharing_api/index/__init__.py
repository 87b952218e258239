"""The chain index: contract events copied into a SQL database (SQLite or PostgreSQL) so that
list and audit queries never scan the chain. ``Indexer.sync`` resumes from its cursor."""

from sharing_api.index.db import IndexDB
from sharing_api.index.indexer import Indexer

__all__ = ["IndexDB", "Indexer"]
