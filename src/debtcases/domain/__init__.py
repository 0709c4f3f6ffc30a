"""The pure core: statuses, the DunningCase aggregate, who may do what, handover checks.

No I/O, no clock, no settings: everything that varies comes in as an argument.
"""
