"""The chat layer every platform shares: what texters and admins see and click, written once.

A chat platform adapter (``bot/slack``, ``bot/discord``) does three things only: turn a platform payload
into one call here, render the neutral answer in its own components, and move bytes (post, update,
delete, open a DM or a thread) through the small ``Surface`` it implements. Everything else lives here
or in core: the flows (what the Send First Texts card shows next, what Send Replies claims, a dashboard,
a menu action), every sentence a person reads, thread bookkeeping and the relay worker.

Modules (each imports only those above it in this list, and core/storage):

- ``markup``: neutral text (a Markdown subset) and how user-written text is escaped in it.
- ``actions``: the neutral actions a button or select carries (ids, expected status, last-seen message
  id; never longer than 100 characters encoded, Discord's ``custom_id`` limit).
- ``surface_refs``: ``Place`` and ``MessageRef``, where messages go and are; ``ThreadFor``, whose thread.
- ``views``: the neutral message model (sections, notes, buttons, selects, forms) every view is made of.
- ``surface``: the ``Surface`` protocol a platform implements (and ``NoThreadChannel``, its one refusal).
- ``actor``: who is asking (a textbank user behind a platform identity).
- ``texts``: every sentence a texter or admin reads, and the views built from them.
- ``flows``: the texter's and admin's flows: one call per click or command, answering with a view.
- ``threads`` / ``relay``: conversation threads kept in order over a ``Surface``, and the relay worker.
"""
