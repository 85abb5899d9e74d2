"""The propensity model's Python side: features, model files and the scoring UDFs.

``features.py`` is the one feature definition (training and the job call it), ``model.py`` reads
and writes content-hashed model files, and ``scoring.py`` holds the vectorized (pandas over Arrow)
scoring UDF the job runs on candidate decisions, and a row-at-a-time twin for benchmarks.
Detection itself runs in JVM SQL and calls no Python per event.
"""
