"""The local controller (agent) of one chassis: registration in the NB, port binding, and its main loop."""
