"""`python -m lvrpo`: the same command as `lvrpo`."""

from lvrpo.cli import app

app()
