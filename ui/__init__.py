"""The page's tabs, one module each, over the plain-data views in `llm/`.

`app.py` composes them; each tab's answer function streams through `llm`'s one
accumulator and writes its chunks to the shared Debug tab.
"""
