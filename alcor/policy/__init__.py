"""Neutron's policy: the same rule names, defaults and file format (oslo.policy's), compiled
into fast checks (`checks`), with Neutron's defaults for the resources served here
(`defaults`) and an operator's `policy.yaml` on top (`enforcer`)."""
