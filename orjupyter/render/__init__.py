"""What a person reads: untrusted Markdown → safe HTML, the status line, the persisted
answer, the dashboards and tables. Pure functions returning strings and mimebundles.

Imports the core and the store's records; never IPython or widgets.
"""
