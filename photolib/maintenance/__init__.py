"""Keeping a library whole: snapshots, damage recognition, salvage, doctor, backup."""
