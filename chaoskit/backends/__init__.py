"""chaoskit.backends"""
