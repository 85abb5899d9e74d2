"""Vectorized (pandas/Arrow) UDFs of journey-triggers.

Propensity scoring lands here with the scikit-learn model (see the roadmap in the README); the
detection pipeline of this release runs entirely in JVM SQL operators and calls no Python UDF.
"""
