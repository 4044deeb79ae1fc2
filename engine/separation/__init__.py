"""Offline separation: chunked model runs, Wiener filtering, fusion and stem export."""
