"""chaoskit.systems"""
