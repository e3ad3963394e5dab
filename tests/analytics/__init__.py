"""Tests of the standalone analytics library (motion, tamper, decode, geometry)."""
