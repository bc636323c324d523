"""Vendor I/O. Each connector lives in its own folder, registered by kind and loaded lazily."""
