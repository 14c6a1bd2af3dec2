"""Running a question: the OpenRouter client, the streamed call, retries and faults,
background answers, and the `Session` that ties history, cache, budget and ledger together.

Imports the core and the store; never IPython, widgets or traitlets. It talks to a person
only through the `View` protocol (`service.views`).
"""
