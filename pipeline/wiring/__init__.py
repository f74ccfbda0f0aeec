"""Params into the library's value objects: the one room that knows which keys of
``params.yaml`` make a :class:`~features.spec.FeatureSpec` (:mod:`.features`), the
validation settings (:mod:`.inputs`), the stage rules, LightGBM settings, split plan,
and promotion rule (:mod:`.models`), the scorer bundle (:mod:`.scorer`) and the
sinks (:mod:`.sinks`).

Stages read params once and hand these objects, never ``Params``, to the code in
``features/`` and ``models/``. One module per target, so that a stage depends on the
wiring it uses only (``dvc.yaml``).
"""
