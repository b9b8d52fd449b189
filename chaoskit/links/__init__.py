"""chaoskit.links"""
