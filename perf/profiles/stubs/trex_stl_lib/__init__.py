"""A stand-in for TRex's trex_stl_lib, enough to load and check mediafwd's profile without TRex."""
