"""chaoskit.faults"""
