# The message catalogue of Custos's pages, in English. Every message here is in es.ftl too
# (a test checks it). Placeables: { $name } and the like, filled in by the page.

## The language switch
language-switch = Read this page in:

## The public sub-processor page of a processor (public_subprocessor_page: true)
subprocessors-title = Sub-processors of { $name }
subprocessors-as-of = As of { $date }.
subprocessors-subscribe = Subscribe to changes (Atom)
subprocessors-current = Current
subprocessors-none = None.
subprocessors-col-subprocessor = Sub-processor
subprocessors-col-country = Country
subprocessors-col-service = What it does
subprocessors-col-locations = Where
subprocessors-announced = Announced
subprocessors-none-announced = No change announced.
subprocessors-col-candidate = Candidate
subprocessors-col-will-do = What it will do
subprocessors-col-replaces = Replaces
subprocessors-col-announced-on = Announced
subprocessors-feed-title = Sub-processor changes of { $name }
subprocessors-feed-entry = { $name } announces { $candidate } ({ $country })
subprocessors-feed-summary = { $candidate } ({ $country }) as a sub-processor: { $service }{ $replaces }. Status: { $status }.
subprocessors-feed-replacing = , replacing { $replaced }
