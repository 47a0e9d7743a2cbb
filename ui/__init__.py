"""The page's tabs, one module each, over the plain-data views in `llm/`.

`app.py` composes them. Each tab's answer function checks its inputs and returns what to stream (a
source and a view); the frame (`answer_frame`) runs it through the one loop (`stream_to_page`), which
writes every chunk to the shared Debug tab. `settings` builds every tab's Settings, `payloads` the
shapes Gradio's components take.
"""
