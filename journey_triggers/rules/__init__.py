"""The rule language: typed models, a YAML loader with file:line errors, and validation."""
