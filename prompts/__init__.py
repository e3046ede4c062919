"""The texts the model reads, as Markdown: the system prompt (``system.md``), the repair message
(``repair.md``), the description of the tool that ends planning (``submit_plan.md``) and the text of
each registered tool (``tools/<name>.md``). tools/prompt_text.py reads them and describes their
format; this package is data and imports nothing.
"""
