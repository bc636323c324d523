"""Local stand-ins for the outside world: vendor API emulators and a usage simulator."""
