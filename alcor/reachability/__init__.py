"""The reachability analyzer: can this port reach that port or address, and if not, why.

It answers from intent (the database, read through the same loaders that render the hosts'
goal states), never from flows: `intent` loads what one question needs, `packets` says what
the packets of a connection look like at each filter, `filters` evaluates network ACLs and
security groups the way the agent's tables do, and `verdict` walks the path hop by hop. The
end-to-end test `tests/e2e/test_reachability_matrix.py` holds it to what real packets do.
"""
