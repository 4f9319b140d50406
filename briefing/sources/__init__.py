"""Where articles come from: bounded reads of files and stdin (`load`), URLs (`fetch`),
RSS/Atom feeds (`feeds`), and the clean text and metadata of a page (`extract`).

Produces `Document` and `Story` (`models`). May import `text`, `config`, `errors`.
"""
