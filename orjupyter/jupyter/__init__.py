"""The one door to Jupyter: the extension, the magic and its grammar, settings (traitlets),
the panel and other views (ipywidgets, anywidget), the action bar and the account commands.

The only room that imports IPython, ipywidgets, traitlets or anywidget, and the one place
where the package's own errors become IPython's `UsageError` (`jupyter.door`).
"""
