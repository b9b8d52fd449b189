"""chaoskit.experiment"""
