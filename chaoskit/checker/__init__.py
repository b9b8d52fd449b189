"""chaoskit.checker"""
