"""The domain: campaigns, contacts, assignment, conversations, survey, scripts, hours, opt-outs.

Plain Python over storage. No chat, SMS or web imports, and no network I/O: an SMS to send is an
outbound message row, a thing a texter must see is a notice row.
"""
