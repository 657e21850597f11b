"""Dhan's 20- and 200-level depth feeds in the feed service ("Full Market Depth" in Dhan's documents).

=================  ==========================================================================================
``books``          the bid (41) and ask (51) halves -> one book event per instrument (pure)
``select``         which instruments: ``auto`` (front futures and ATM +/- 2 options) or a list (pure)
``connection``     :class:`DepthConnection`: the live feed's connection machinery on a depth socket
``feeds``          :class:`DepthFeeds`: the depth sockets within the connection budget, frames -> publisher
=================  ==========================================================================================

The connection budget (Dhan's 5 WebSockets per user, shared with the live feed) is :mod:`feed.budget`.
"""
