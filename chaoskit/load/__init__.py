"""chaoskit.load"""
