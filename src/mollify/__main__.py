from mollify.cli import app

app()
