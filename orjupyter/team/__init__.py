"""The team's command line (`python -m orjupyter.team`): the team's spend and its budgets, for
whoever runs the shared ledger."""
