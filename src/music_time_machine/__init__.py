"""Music Time Machine: keep your Spotify listening history for years and travel through it."""
