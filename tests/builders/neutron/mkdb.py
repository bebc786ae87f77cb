"""Creates upstream Neutron's schema (networking-sfc's included) in a sqlite file: `mkdb.py PATH`."""

import sys

import networking_sfc.db.flowclassifier_db
import networking_sfc.db.sfc_db  # noqa: F401
import sqlalchemy as sa
from neutron.db.migration.models import head  # noqa: F401
from neutron_lib.db import model_base

engine = sa.create_engine(f"sqlite:///{sys.argv[1]}")
model_base.BASEV2.metadata.create_all(engine)
