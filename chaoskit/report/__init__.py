"""chaoskit.report"""
