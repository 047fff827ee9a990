import factory

from messaging.models import Template
from providers.models import Provider
from tenants.models import ApiKey, App, Membership, Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    default_country = "US"


class AppFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = App

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"app-{n}")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"provider-{n}")
    provider_type = "sandbox"
    channels = factory.LazyFunction(lambda: ["sms", "email", "whatsapp", "viber", "rcs", "push"])
    is_active = True
    is_tenant_default = False

    @factory.post_generation
    def credentials(obj, create, extracted, **kwargs):
        obj.credentials = extracted or {}
        if create:
            obj.save()


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Template

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"template-{n}")
    mode = "sms"
    data = factory.LazyFunction(lambda: {"body": "Your code is {{otp}}"})
    is_active = True


def issue_key(app: App) -> str:
    return ApiKey.issue(app)[1]


def staff_user(
    username: str,
    *,
    tenant: Tenant | None = None,
    role: str | None = None,
    password: str = "pw-Secret-123",
):
    """A staff user who may log in to the admin, with a role in `tenant` when given."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=username, password=password, is_staff=True, email=f"{username}@example.com"
    )
    if tenant is not None and role is not None:
        Membership.objects.create(user=user, tenant=tenant, role=role)
    return user
