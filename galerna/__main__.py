"""`python -m galerna …` is the `galerna` command."""
from galerna.cli import app

app(prog_name="galerna")
