"""The pure core: the domain's values and the rules that need no I/O.

Prompt templates and parts, images prepared for a vision model, requests, stream
accumulation, pricing and token counts, budgets, output formats, threads, cache keys.
Standard library plus Pillow (imported when an image is first met); no framework, no
network, no files opened, and nothing from the other rooms.
"""
