"""Configuration: the scenario and sweep files, their validation, and the rules that generate labs.

Validating a scenario imports neither torch nor Mesa.
"""
