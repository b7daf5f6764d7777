"""Sign-in throttle for every sign-in form: the app's /login/ and the Django admin's.

README, "Sign-in", says what it does for a user; `throttle` holds the counting,
`backends` plugs it into `django.contrib.auth.authenticate`, `forms` turns a
refusal into the sign-in pages' message.
"""
