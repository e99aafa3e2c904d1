"""Events and their reminders (what will be sent when and why), reminder rules per purpose, and
campaigns (audience and excluded counts by reason before launch).

`routes` is included by relance/backoffice/urls.py; object ids are named `<model>_id` so that
tests/test_isolation.py checks each route answers 404 for another organisation's object (R-63).
"""

from django.urls import path

from . import campaigns, events, rules

routes: list = [
    path("events/", events.event_list, name="events"),
    path("events/new/", events.event_create, name="event_create"),
    path("events/<uuid:event_id>/", events.event_detail, name="event_detail"),
    path("events/<uuid:event_id>/move/", events.event_edit, name="event_edit"),
    path("events/<uuid:event_id>/cancel/", events.event_cancel, name="event_cancel"),
    path("rules/", rules.rule_list, name="reminder_rules"),
    path("rules/new/", rules.rule_create, name="reminder_rule_create"),
    path("rules/<int:rule_id>/", rules.rule_edit, name="reminder_rule_edit"),
    path("rules/<int:rule_id>/turn-off/", rules.rule_deactivate, name="reminder_rule_deactivate"),
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", campaigns.campaign_create, name="campaign_create"),
    path("campaigns/audience/", campaigns.campaign_audience, name="campaign_audience"),
    path("campaigns/<int:campaign_id>/", campaigns.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:campaign_id>/launch/", campaigns.campaign_launch, name="campaign_launch"),
    path("campaigns/<int:campaign_id>/pause/", campaigns.campaign_pause, name="campaign_pause"),
    path("campaigns/<int:campaign_id>/resume/", campaigns.campaign_resume, name="campaign_resume"),
    path("campaigns/<int:campaign_id>/cancel/", campaigns.campaign_cancel, name="campaign_cancel"),
]
