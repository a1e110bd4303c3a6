"""The ground floor: what every other package of ours may import, and which imports none.

Errors (:mod:`.exceptions`), settings (:mod:`.settings`), input types and checks
(:mod:`.validation`, :mod:`.retry`), addresses (:mod:`.network`), stopping
(:mod:`.lifecycle`), logs (:mod:`.logs`), the Temporal client factory
(:mod:`.temporal_client`), metrics serving and buckets (:mod:`.metrics`), search attributes
(:mod:`.search_attributes`), stable hashing (:mod:`.hashing`) and the safe-expression
compiler (:mod:`.expressions`). Nothing is imported here: ``import orchestration.core.x``
loads only ``x``.
"""
