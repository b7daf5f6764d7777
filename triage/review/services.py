"""The weekly review e-mailed to REVIEW_RECIPIENTS, on the schedule REVIEW_SCHEDULE sets."""

from datetime import date

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from triage.review.selectors import WeeklyReview, weekly_review


def review_url(review: WeeklyReview) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('review')}?week={review.name}"


def review_digest_send(*, week_start: date) -> int:
    """E-mail the week's review to REVIEW_RECIPIENTS as text + HTML (the HTML autoescaped:
    organisation names and exclusion reasons are free text); returns the messages sent."""
    recipients = settings.REVIEW_RECIPIENTS
    if not recipients:
        return 0
    review = weekly_review(week_start=week_start)
    context = {"review": review, "url": review_url(review)}
    rate = review.false_positive_rate
    subject = (
        f"asnwatch weekly review {review.name}: {review.created} alerts, "
        f"{review.closed} closed, false positives {f'{rate:.0%}' if rate is not None else 'n/a'}"
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("triage/review_digest.txt", context),
        to=recipients,
    )
    message.attach_alternative(render_to_string("triage/review_digest.html", context), "text/html")
    return message.send()
